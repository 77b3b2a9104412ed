-- What e-Kinerja answered on the attempt an event is about (delivery-status.v1 `http_status`,
-- `error`): null for events written before, for no answer (timeout) and for events that are not
-- about an attempt.
ALTER TABLE delivery_history
    ADD COLUMN http_status integer,
    ADD COLUMN error       text;
