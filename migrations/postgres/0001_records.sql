-- s3seal store schema, version 1.
--
-- Every table of the store (kms_keys, kms_aliases, settings, kms_grants,
-- bucket_settings, object_index, sealed_layouts, multipart_uploads,
-- multipart_part_checksums) is a set of records of this one table. Values are
-- JSON documents or text, kept as the exact bytes s3seal wrote; keys are
-- bytes because object-index keys contain NUL. Key material in kms_keys is
-- sealed under the root key, never stored in the clear.
CREATE TABLE s3seal_records (
    tbl   text  NOT NULL,
    key   bytea NOT NULL,
    value bytea NOT NULL,
    PRIMARY KEY (tbl, key)
);

-- Every s3seal instance caches the configuration tables and listens on
-- channel s3seal_changes: a change to one of their records, committed by any
-- instance (or by hand), tells every instance to drop its cached copy. The
-- payload is "<table>\t<hex of key>". The list of tables matches
-- Table::is_configuration in src/store/backend.rs.
CREATE FUNCTION s3seal_notify_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    changed s3seal_records;
BEGIN
    IF TG_OP = 'DELETE' THEN
        changed := OLD;
    ELSE
        changed := NEW;
    END IF;
    IF changed.tbl IN ('kms_keys', 'kms_aliases', 'settings', 'kms_grants', 'bucket_settings') THEN
        PERFORM pg_notify('s3seal_changes', changed.tbl || E'\t' || encode(changed.key, 'hex'));
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER s3seal_records_changed
    AFTER INSERT OR UPDATE OR DELETE ON s3seal_records
    FOR EACH ROW EXECUTE FUNCTION s3seal_notify_change();
