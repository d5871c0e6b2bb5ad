-- Claims on outbox work: a replica delivering to a target holds its row FOR UPDATE (taken
-- with SKIP LOCKED) for the length of the attempt, so that during a lease handover two
-- replicas never call the same target at once. A claim ends with its transaction; a
-- replica that stalls loses it to idle_in_transaction_session_timeout.
CREATE TABLE statusgate_claims (
    scope text NOT NULL,
    key   text COLLATE "C" NOT NULL,
    PRIMARY KEY (scope, key)
);
