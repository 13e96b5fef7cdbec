"""The browser pages, one module per page family; ``app.web.routes`` assembles them."""
