"""Online account opening (开户): the customer's resumable journey and the back office's review."""
