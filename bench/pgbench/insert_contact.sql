-- One new contact with its relationship, at a random existing address.
\set address random(1, 300000)
WITH u AS (
    INSERT INTO appuser (first_name, last_name, gender, customer_id, phone_number, birthday, address_id)
    VALUES ('Pg', 'Bench', 'F', 'PGB-' || md5(random()::text), '555-0100', '1990-01-01', :address)
    RETURNING id
)
INSERT INTO customer_relationship (appuser_id, points, created, last_activity)
SELECT id, 10, now(), now() FROM u;
