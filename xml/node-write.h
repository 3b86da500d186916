/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Nodes -> XML (Node.GetXML, Manager.GetGraph) and Graphviz dot.
 *
 * node_to_xml writes the node's full option set in canonical form: every
 * option that has a value, in table order, booleans as on/off, dotted names
 * grouped into one element per group (<cache direct="off" no-flush="off"/>),
 * children by reference (<file ref="..."/>), and <backing/> for a node whose
 * driver supports backing files but that has none.  Parsing the text again
 * gives the same options and links.
 */

#include <glib.h>

#include "graph/node.h"

char *node_to_xml(const BlockNode *node);

/*
 * <blockgraph> with every node, re-appliable as a configuration file:
 * nodes added by AddNode as <blockdev> elements, referenced nodes first;
 * nodes owned by their one parent (inline children) inline in it.
 */
char *graph_to_xml(void);

/* digraph: nodes labelled name + driver, edges child roles; exports and jobs too. */
char *graph_to_dot(void);

/* format "xml" or "dot" (Manager.GetGraph); anything else: InvalidArgument. */
char *graph_describe(const char *format, GError **errp);
