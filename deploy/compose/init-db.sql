-- One role and one schema per service, as deploy/local/postgres.sh does for local processes.
CREATE ROLE planning LOGIN PASSWORD 'planning';
CREATE ROLE observation LOGIN PASSWORD 'observation';
CREATE ROLE assessment LOGIN PASSWORD 'assessment';
CREATE ROLE predikat LOGIN PASSWORD 'predikat';
CREATE ROLE bkn_sync LOGIN PASSWORD 'bkn_sync';
CREATE ROLE console LOGIN PASSWORD 'console';
CREATE DATABASE kinerja;
\connect kinerja
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
CREATE SCHEMA planning AUTHORIZATION planning;
CREATE SCHEMA observation AUTHORIZATION observation;
CREATE SCHEMA assessment AUTHORIZATION assessment;
CREATE SCHEMA predikat AUTHORIZATION predikat;
CREATE SCHEMA bkn_sync AUTHORIZATION bkn_sync;
CREATE SCHEMA console AUTHORIZATION console;
