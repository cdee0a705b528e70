"""``careligible serve``: screening where clinicians work, over HTTP.

Two faces on one ASGI application (:mod:`.app`): a CDS Hooks 2.0 service that an electronic record
calls when a chart is opened (``patient-view``) and answers with cards, and a plain JSON API
(``/screen``, ``/explain``, ``/trials``, ``/healthz``). Screening runs in worker processes, each
with its own compiled catalog (:mod:`.pool`); tokens are checked by :mod:`.auth`, prefetch is
turned into a FHIR Bundle by :mod:`.prefetch`, results into cards by :mod:`.cards`, and clinicians'
feedback on the cards is kept by :mod:`.feedback`.

The core knows nothing of this package; this package only calls the core.
"""
