"""The HTTP edge: the transport (a session retrying within a budget), the ways to
authenticate, and the edge that turns one request into a page or an error.

::

    imgframe/http/transport.py  BudgetRetry, make_retry, make_session, settle_environment
    imgframe/http/auth.py       NoAuth, TokenAuth, AkSkAuth, KeystoneAuth
    imgframe/http/edge.py       Edge: send (re-auth) -> status -> body -> page
"""
