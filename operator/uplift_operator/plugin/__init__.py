"""The ``kubectl uplift`` plugin: standard library only, so it starts fast and installs as one file.

``kubectl_uplift`` is the plugin; ``bundle`` packs it with the annotation contract
(``domain.requests``) into a single executable zipapp for krew or a plain copy onto ``PATH``.
"""
