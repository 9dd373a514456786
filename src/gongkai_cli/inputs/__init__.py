"""Reading what people hand in: plan tables in any format (plan_files.py, documents.py, validated
by plan_rows.py), note batches, the unit file, the CSV dialects clerks' tools save, and typed
values (task numbers, statuses, counts, keys, years)."""
