"""The clinic's reports: figures for a chosen period, each with an SVG chart and a CSV.

Every figure is one SQL aggregate (``GROUP BY``, ``date_trunc`` in the clinic's zone) run in
the request's clinic-bound session, so RLS keeps another clinic's rows out as everywhere.

Who sees reports: owners and admins (``reports.view``). Practitioners and receptionists do
not: the figures compare practitioners with each other (utilisation) and show the clinic's
business, which is the owner's to share.
"""
