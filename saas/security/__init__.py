"""Authentication, MFA, RBAC and tokens: what every feature's views rely on."""
