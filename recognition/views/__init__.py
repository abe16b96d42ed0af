"""The web pages, one module per area. Views translate requests into selector and service
calls and render templates; the work lives in ``recognition.services`` and ``.selectors``."""
