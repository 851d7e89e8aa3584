"""MkDocs hook: the model card is written for its place in the package (``ssd_isb/zoo/README.md``,
read on GitHub and after an install) and included into the site as ``model-card.md``. Its
repository-relative links into ``docs/`` become site links there, so ``mkdocs build --strict``
checks them like any page's."""


def on_page_markdown(markdown, page, config, files):  # noqa: D103 (MkDocs hook signature)
    if page.file.src_uri == "model-card.md":
        return markdown.replace("](../../docs/", "](")
    return markdown
