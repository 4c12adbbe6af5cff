"""Contacts and companies: the clients a deal is about, with their phones and e-mails."""
