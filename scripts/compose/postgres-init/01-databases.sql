-- Run once by the postgres image on an empty data volume (/docker-entrypoint-initdb.d): one database
-- per service that has one (charts/mercato/values.yaml `database: true`), as the chart's in-cluster
-- Postgres does. tests/deploy/compose.test.ts checks the list against the chart and runs this file.
CREATE DATABASE mercato_identity;
CREATE DATABASE mercato_catalog;
CREATE DATABASE mercato_inventory;
CREATE DATABASE mercato_order;
CREATE DATABASE mercato_payment;
CREATE DATABASE mercato_shipping;
CREATE DATABASE mercato_notification;
