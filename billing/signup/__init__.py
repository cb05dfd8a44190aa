"""Sign-up: the portal's registration form and its approval (forms, registrations, uploads)."""
