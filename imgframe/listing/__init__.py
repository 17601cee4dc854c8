"""Listing a resource, blind to what it holds and to HTTP: the walk (one stream after the
other, with a prefetch), the concurrent load (streams or time ranges at once), the
``attrs`` contract and the process-wide settings a load changes.

::

    imgframe/listing/resource.py    Resource, Stream: what is listed       (pure)
    imgframe/listing/run.py         run(): which way a load lists, and from where
    imgframe/listing/walk.py        pages() and load(): one walk per stream
    imgframe/listing/concurrent.py  load(): streams or time ranges at once
    imgframe/listing/adaptive.py    how many at once: measured, AIMD      (pure)
    imgframe/listing/ranges.py      creation-time ranges of a stream       (pure)
    imgframe/listing/resume.py      ResumeState: where a load stopped      (pure)
    imgframe/listing/attrs.py       attrs["imgframe"]                     (pure)
    imgframe/listing/settings.py    the GC pause, the GIL switch interval  (pure)

The HTTP edge that fetches a page is :mod:`imgframe.http`; nothing here imports
``requests``.
"""
