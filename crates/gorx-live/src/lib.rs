//! Reading a running Go process from outside, without changing it.
