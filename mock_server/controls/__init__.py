"""Mock-only controls under `/__mock`: reset and inspection, the request journal, faults, and the control panel."""
