//! Every threshold a finding depends on, in one place, each with the reason for its value.
//! Grouped by area; analyses read these constants and never hard-code their own.
