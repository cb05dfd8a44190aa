"""Sign-up: the portal's registration form and its approval (forms, registrations, uploads); coverage zones
and leads (coverage, leads); versioned contracts and their signatures (contracts)."""
