"""The demo identity provider's people (pam_demo/run.py starts it; seed.py grants).

sam is in the group granted readonly (standing) and admin (eligible: by request); robin
is in the group that approves admin requests, and may Access nothing. No Django here:
the runner reads it before Django is set up.
"""

SSO_GROUP = "demo-ops"
SSO_APPROVERS = "demo-approvers"
SSO_PEOPLE = [
    {
        "sub": "sam",
        "email": "sam.sso@example.com",
        "name": "Sam Sso",
        "groups": [SSO_GROUP],
        "email_verified": True,
    },
    {
        "sub": "robin",
        "email": "robin.sso@example.com",
        "name": "Robin Sso",
        "groups": [SSO_APPROVERS],
        "email_verified": True,
    },
]
