"""Pure checks: observed state + expectations -> findings. No I/O, no clients."""
