//! Pareto dominance, non-dominated sorting, crowding distance and hypervolume.
