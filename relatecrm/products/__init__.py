"""The product catalog: products, units of measure and VAT rates that product rows refer to."""
