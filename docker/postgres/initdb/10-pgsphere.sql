-- pgsphere for TAP (ivoa.obscore.s_region and ADQL geometry); the migrations use it.
CREATE EXTENSION IF NOT EXISTS pg_sphere;
