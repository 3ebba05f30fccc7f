//! Building the cluster pyramid.

use crate::grid::Grid;
use crate::{Error, Params, MAX_ZOOM_LIMIT};

/// `Node::parent` of a node that no cluster absorbs.
pub const NO_PARENT: u32 = u32::MAX;

/// A point or a cluster.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Node {
    /// Position in world units; for a cluster the centroid of its points.
    pub x: f64,
    pub y: f64,
    /// Number of points (1 for a point).
    pub count: u32,
    /// The zoom whose clustering made this node: `max_zoom + 1` for a point.
    /// A node shows at every zoom from its parent's zoom + 1 to this one.
    pub zoom: u8,
    /// The cluster that absorbs this node, or [`NO_PARENT`].
    pub parent: u32,
    /// This node's points are `leaf_order[leaf_lo .. leaf_lo + count]`.
    pub leaf_lo: u32,
    /// The partition of this node's points.
    pub partition: u32,
}

/// A cluster pyramid over a set of points.
///
/// Nodes `0..point_count` are the input points in input order; clusters
/// follow, each after all of its children.
#[derive(Debug, Clone)]
pub struct Pyramid {
    pub params: Params,
    pub nodes: Vec<Node>,
    pub point_count: usize,
    /// `children[child_ranges[c]..child_ranges[c + 1]]` are the children of
    /// cluster node `point_count + c`.
    child_ranges: Vec<u32>,
    children: Vec<u32>,
    /// Input point indices, depth-first: every cluster's points are a range.
    pub leaf_order: Vec<u32>,
    /// The nodes shown at each zoom from `min_zoom` to `max_zoom`.
    levels: Vec<Vec<u32>>,
}

/// A group of items of the level below, becoming one item of this level.
/// Its members are a linked list through [`Links`], so absorbing another
/// group costs no allocation (a level can have a million of them).
#[derive(Clone, Copy)]
struct Group {
    head: u32,
    tail: u32,
    wx: f64,
    wy: f64,
    count: u64,
}

/// `next[k]`: the member after item `k` in its group, or [`END`].
struct Links {
    next: Vec<u32>,
}

const END: u32 = u32::MAX;

impl Group {
    fn single(k: u32, n: &Node) -> Group {
        Group {
            head: k,
            tail: k,
            wx: n.x * f64::from(n.count),
            wy: n.y * f64::from(n.count),
            count: u64::from(n.count),
        }
    }
    fn x(&self) -> f64 {
        self.wx / self.count as f64
    }
    fn y(&self) -> f64 {
        self.wy / self.count as f64
    }
    fn absorb(&mut self, other: &Group, links: &mut Links) {
        links.next[self.tail as usize] = other.head;
        self.tail = other.tail;
        self.wx += other.wx;
        self.wy += other.wy;
        self.count += other.count;
    }
    fn members<'a>(&self, links: &'a Links) -> impl Iterator<Item = u32> + 'a {
        let mut k = self.head;
        std::iter::from_fn(move || {
            (k != END).then(|| {
                let this = k;
                k = links.next[k as usize];
                this
            })
        })
    }
}

impl Pyramid {
    /// Clusters `points` (world units, see [`crate::mercator_to_world`]).
    /// With `partitions`, points cluster only with points of the same
    /// partition value; each partition is a pyramid of its own, and their
    /// leaves follow each other in order of partition value.
    pub fn build(points: &[[f64; 2]], partitions: Option<&[u32]>, params: Params) -> Result<Pyramid, Error> {
        if params.max_zoom > MAX_ZOOM_LIMIT {
            return Err(Error::ZoomTooDeep(params.max_zoom));
        }
        if params.min_zoom > params.max_zoom {
            return Err(Error::ZoomOrder { min: params.min_zoom, max: params.max_zoom });
        }
        if !(params.radius.is_finite() && params.radius > 0.0 && params.extent > 0.0) {
            return Err(Error::Radius(params.radius));
        }
        // Nodes are at most twice the points; they must fit u32 ids.
        if points.len() >= (u32::MAX / 2) as usize {
            return Err(Error::TooManyPoints(points.len()));
        }
        if let Some(i) = points.iter().position(|p| !(p[0].is_finite() && p[1].is_finite())) {
            return Err(Error::NonFinite(i));
        }
        let leaf_zoom = params.max_zoom + 1;
        let mut pyramid = Pyramid {
            params,
            nodes: points
                .iter()
                .enumerate()
                .map(|(i, p)| Node {
                    x: p[0],
                    y: p[1],
                    count: 1,
                    zoom: leaf_zoom,
                    parent: NO_PARENT,
                    leaf_lo: 0,
                    partition: partitions.map_or(0, |ps| ps[i]),
                })
                .collect(),
            point_count: points.len(),
            child_ranges: vec![0],
            children: Vec::new(),
            leaf_order: Vec::with_capacity(points.len()),
            levels: vec![Vec::new(); usize::from(params.max_zoom - params.min_zoom) + 1],
        };

        // The points of each partition, partitions in ascending order.
        let mut groups: Vec<Vec<u32>> = match partitions {
            None => vec![(0..points.len() as u32).collect()],
            Some(ps) => {
                assert_eq!(ps.len(), points.len(), "one partition value per point");
                let mut order: Vec<u32> = (0..points.len() as u32).collect();
                order.sort_by_key(|&i| ps[i as usize]);
                let mut out: Vec<Vec<u32>> = Vec::new();
                for i in order {
                    match out.last_mut() {
                        Some(g) if ps[g[0] as usize] == ps[i as usize] => g.push(i),
                        _ => out.push(vec![i]),
                    }
                }
                out
            }
        };

        let mut roots = Vec::new();
        for items in groups.iter_mut() {
            let mut items = std::mem::take(items);
            for z in (params.min_zoom..=params.max_zoom).rev() {
                items = pyramid.cluster_level(&items, z);
                pyramid.levels[usize::from(z - params.min_zoom)].extend_from_slice(&items);
            }
            roots.extend(items);
        }
        pyramid.number_leaves(&roots);
        Ok(pyramid)
    }

    /// Clusters the items of zoom `z + 1` into the items of zoom `z`.
    fn cluster_level(&mut self, items: &[u32], z: u8) -> Vec<u32> {
        let r = self.params.radius_at(z);
        let r2 = r * r;
        let min_points = u64::from(self.params.min_points);
        let nodes = &self.nodes;
        let grid = Grid::new(items.iter().map(|&n| [nodes[n as usize].x, nodes[n as usize].y]), r);
        let node = |k: u32| &nodes[items[k as usize] as usize];
        let mut links = Links { next: vec![END; items.len()] };

        // The greedy pass, as supercluster does it: each item not yet taken
        // takes every untaken item within the radius of it.
        let mut taken = vec![false; items.len()];
        let mut groups: Vec<Group> = Vec::new();
        let mut neighbours: Vec<u32> = Vec::new();
        for k in 0..items.len() as u32 {
            if taken[k as usize] {
                continue;
            }
            taken[k as usize] = true;
            let p = node(k);
            neighbours.clear();
            // In the grid's order (cell, then item): deterministic.
            grid.within([p.x, p.y], r2, |j| !taken[j as usize], &mut neighbours);
            let count = u64::from(p.count) + neighbours.iter().map(|&j| u64::from(node(j).count)).sum::<u64>();
            if neighbours.is_empty() || count < min_points {
                // Too few: each stays as it is, and the neighbours are not
                // offered to later items either (supercluster does the same).
                groups.push(Group::single(k, p));
                for &j in &neighbours {
                    taken[j as usize] = true;
                    groups.push(Group::single(j, node(j)));
                }
            } else {
                let mut g = Group::single(k, p);
                for &j in &neighbours {
                    taken[j as usize] = true;
                    g.absorb(&Group::single(j, node(j)), &mut links);
                }
                groups.push(g);
            }
        }

        // Greedy grouping moves each cluster to its centroid, which may land
        // within the radius of another item. Merge such pairs until none is
        // left (when the merged group is big enough to be a cluster).
        loop {
            let grid = Grid::new(groups.iter().map(|grp| [grp.x(), grp.y()]), r);
            let mut alive = vec![true; groups.len()];
            let mut merged = false;
            for g in 0..groups.len() {
                if !alive[g] {
                    continue;
                }
                let (x, y, mut count) = (groups[g].x(), groups[g].y(), groups[g].count);
                neighbours.clear();
                grid.within([x, y], r2, |j| j as usize != g && alive[j as usize], &mut neighbours);
                for &j in &neighbours {
                    let other = groups[j as usize];
                    if count + other.count >= min_points {
                        groups[g].absorb(&other, &mut links);
                        alive[j as usize] = false;
                        count += other.count;
                        merged = true;
                    }
                }
            }
            if !merged {
                break;
            }
            let mut k = 0;
            groups.retain(|_| {
                k += 1;
                alive[k - 1]
            });
        }

        let mut next = Vec::with_capacity(groups.len());
        let mut members: Vec<u32> = Vec::new();
        for g in groups {
            // One member: the item passes up unchanged.
            if g.head == g.tail {
                next.push(items[g.head as usize]);
                continue;
            }
            let id = self.nodes.len() as u32;
            // Children in the order the group took them: deterministic, and
            // sorting them would cost more than the rest of the level.
            members.clear();
            members.extend(g.members(&links).map(|k| items[k as usize]));
            for &m in &members {
                self.nodes[m as usize].parent = id;
            }
            let partition = self.nodes[members[0] as usize].partition;
            self.nodes.push(Node {
                x: g.x(),
                y: g.y(),
                count: g.count as u32,
                zoom: z,
                parent: NO_PARENT,
                leaf_lo: 0,
                partition,
            });
            self.children.extend_from_slice(&members);
            self.child_ranges.push(self.children.len() as u32);
            next.push(id);
        }
        next
    }

    /// Numbers the leaves depth-first from `roots`, so each node's points
    /// are one range of `leaf_order`.
    fn number_leaves(&mut self, roots: &[u32]) {
        let mut stack: Vec<u32> = roots.iter().rev().copied().collect();
        while let Some(n) = stack.pop() {
            self.nodes[n as usize].leaf_lo = self.leaf_order.len() as u32;
            if (n as usize) < self.point_count {
                self.leaf_order.push(n);
            } else {
                stack.extend(self.children(n).iter().rev());
            }
        }
    }

    pub fn is_cluster(&self, node: u32) -> bool {
        node as usize >= self.point_count
    }

    /// The children of `node` (nodes of the zoom below its own); empty for a point.
    pub fn children(&self, node: u32) -> &[u32] {
        if !self.is_cluster(node) {
            return &[];
        }
        let c = node as usize - self.point_count;
        &self.children[self.child_ranges[c] as usize..self.child_ranges[c + 1] as usize]
    }

    /// The nodes shown at `zoom` (between `min_zoom` and `max_zoom`).
    pub fn level(&self, zoom: u8) -> &[u32] {
        &self.levels[usize::from(zoom - self.params.min_zoom)]
    }

    /// The zoom at which a cluster splits into its children: one past the
    /// zoom that made it.
    pub fn expansion_zoom(&self, node: u32) -> u8 {
        self.nodes[node as usize].zoom + 1
    }

    /// The input points of `node`, depth-first.
    pub fn leaves(&self, node: u32) -> &[u32] {
        let n = &self.nodes[node as usize];
        &self.leaf_order[n.leaf_lo as usize..(n.leaf_lo + n.count) as usize]
    }

    pub fn cluster_count(&self) -> usize {
        self.nodes.len() - self.point_count
    }
}
