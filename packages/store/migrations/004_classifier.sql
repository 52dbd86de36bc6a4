-- Token counts of the statistical filter. Scope 0 is the global model, scope N the model of user N.
-- Counts are weighted sums (a message trained with weight 0.5 adds 0.5).
CREATE TABLE classifier_tokens (
  scope bigint NOT NULL,
  token text NOT NULL,
  ham   double precision NOT NULL DEFAULT 0,
  spam  double precision NOT NULL DEFAULT 0,
  PRIMARY KEY (scope, token)
);

CREATE TABLE classifier_totals (
  scope bigint PRIMARY KEY,
  nham  double precision NOT NULL DEFAULT 0,
  nspam double precision NOT NULL DEFAULT 0
);

-- What each trained message contributed, so training is idempotent and a message can move from ham
-- to spam (or be removed) exactly.
CREATE TABLE classifier_trained (
  scope       bigint NOT NULL,
  message_key text NOT NULL,
  label       text NOT NULL CHECK (label IN ('ham', 'spam')),
  weight      double precision NOT NULL,
  tokens      text[] NOT NULL,
  trained_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (scope, message_key)
);
