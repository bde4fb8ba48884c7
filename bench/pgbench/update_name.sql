-- One contact's first name.
\set id random(1, 3000000)
UPDATE appuser SET first_name = 'Renamed' WHERE id = :id;
