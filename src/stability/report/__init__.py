"""The reports: one analysed `Report` (`build`) rendered as HTML (`page`, Jinja2 templates
with autoescaping, the only plotly importer via `figures`), JSON, JUnit, Markdown and text."""
