"""The migration, live: `/demo/migration/` shows the as-is and to-be paths side by side (data),
with controls that start traffic and stall the database when DEMO_CONTROLS is on (views)."""
