"""Operations: the /metrics endpoint and the wiring of request ids into Celery tasks.

On the top floor, beside the URL wiring: its collectors read the rows of every app
(console sessions, revocations, requests) and nothing imports it but pam_project.urls.
"""
