ARG BASE
FROM ${BASE}
ENV LANG=C.UTF-8
EXPOSE 6379
ENTRYPOINT ["redis-server", "--bind", "0.0.0.0", "--protected-mode", "no", "--save", "", "--appendonly", "no"]
