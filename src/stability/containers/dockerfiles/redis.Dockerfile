ARG BASE
FROM ${BASE}
ARG VERSION
LABEL dev.pytest-stability.image-version=${VERSION}
ENV LANG=C.UTF-8
COPY redis-entrypoint.sh /usr/local/bin/redis-entrypoint.sh
RUN chmod 755 /usr/local/bin/redis-entrypoint.sh
EXPOSE 6379
ENTRYPOINT ["/usr/local/bin/redis-entrypoint.sh"]
# No snapshots for throw-away test data.
CMD ["redis-server", "--save", "", "--appendonly", "no"]
