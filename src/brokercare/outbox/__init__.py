"""The outbox: every outbound message of every domain (app push, SMS, WeChat, e-mail), written in
its author's transaction and delivered at least once by the dispatcher. See ``docs/outbox.md``."""
