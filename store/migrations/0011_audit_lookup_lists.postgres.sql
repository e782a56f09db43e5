-- SQLite's lookups become lists of seqs in this version (see its file).
-- PostgreSQL's writer adds each record to its lookups as it appends it, a
-- row per record and lookup, and keeps them so.
SELECT 1;
