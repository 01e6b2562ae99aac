"""Mail: the transactional outbox. Rendering and queueing an email inside the caller's
transaction, claiming, delivering and retrying it from the sender thread or `flask outbox
work` (`outbox`); how a message leaves, by SMTP or as an .eml file (`transports`); and how
it is serialised, with list headers kept plain (`policy`)."""
