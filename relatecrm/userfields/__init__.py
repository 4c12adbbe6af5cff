"""Custom fields (``UF_CRM_*``): their definitions, enumeration items, values and files."""
