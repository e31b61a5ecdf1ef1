"""The operator console on the platform host (tenants, plans, health); never clinical data."""
