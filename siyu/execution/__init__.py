"""Wave 2: metrics, staff task lists, profit per staff account."""
