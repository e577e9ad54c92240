"""HTTP edges of riskscore: the scoring service and the Stripe webhook route."""
