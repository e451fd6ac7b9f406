//! Renderers. They never decide what is wrong; they show what analysis found.
