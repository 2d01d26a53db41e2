"""ApplicationSets as Argo CD runs them, the pure part: parse and validate a set
(:mod:`.spec`), generate parameter sets (:mod:`.generators`), render Applications from
the template (:mod:`.render`), plan the creates/updates/deletes a sync policy allows
(:mod:`.changes`) and decide the next moves of a RollingSync (:mod:`.rolling`).

No I/O here: Git is read through an injected :class:`~.generators.GitReader`, Go templates
are rendered through an injected :data:`~.render.GoRenderer` (``activities/gotemplate.py``
runs the ``bosun-gotemplate`` binary).
"""
