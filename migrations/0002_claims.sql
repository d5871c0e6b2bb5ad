-- Claims on outbox work: a replica delivering outbox entries holds their rows FOR UPDATE
-- (taken with SKIP LOCKED) for the length of the attempt, so that during a lease handover
-- no entry is sent by two replicas. A claim ends with its transaction; a
-- replica that stalls loses it to idle_in_transaction_session_timeout.
CREATE TABLE statusgate_claims (
    scope text NOT NULL,
    key   text COLLATE "C" NOT NULL,
    PRIMARY KEY (scope, key)
);
