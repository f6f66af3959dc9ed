"""F15 engagement back: Maileon's per-person mailing events into the panel and Pipedrive.

* `events`: a report row or webhook call → an event under its natural key, tied to a person.
* `reader`: the periodic read of Maileon's reports over a persistent per-company cursor.
* `bounce`: the `bounce` webhook's job (store first, then enrich from `/reports/bounces`).
* `writes`: notes and person fields in Pipedrive, budgeted per person and company per day.
* `view`: what the panel shows, from what the app holds.
"""
