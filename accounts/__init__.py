"""Who may do what: users and roles, capability checks for pages and the API, API tokens and
their authentication, the audit log, and the API's shared error shape and pagination.

The ground floor of callops: it imports no other callops app, and every app may import it."""
