"""The patient pages of the staff console: the list, the patient page, the chart, follow-ups."""
