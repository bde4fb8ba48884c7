-- One contact's relationship points.
\set id random(1, 3000000)
UPDATE customer_relationship SET points = points + 1 WHERE appuser_id = :id;
