"""The grammar of the `${…}` language: the subset of Spring's SpEL that Spinnaker pipelines use (orca.md §4.4).

Parsed with lark's LALR parser into a tree that `compiler.py` turns into Python closures.
"""

from __future__ import annotations

from functools import cache

from lark import Lark

GRAMMAR = r"""
?start: expr

?expr: ternary
?ternary: elvis
        | elvis "?" expr ":" expr                 -> ternary
?elvis: or_expr
      | or_expr "?:" elvis                        -> elvis
?or_expr: and_expr
        | or_expr _OR and_expr                    -> or_
?and_expr: relation
         | and_expr _AND relation                 -> and_
?relation: sum
         | sum RELOP sum                          -> compare
         | sum _MATCHES sum                       -> matches
?sum: product
    | sum PLUS product                            -> add
    | sum MINUS product                           -> sub
?product: power
        | product MULOP power                     -> mul
?power: unary
      | unary "^" power                           -> power
?unary: postfix
      | _NOT unary                                -> not_
      | MINUS unary                               -> neg
      | PLUS unary                                -> pos

?postfix: primary
        | postfix "." NAME                        -> prop
        | postfix "?." NAME                       -> safe_prop
        | postfix "." NAME "(" [args] ")"         -> call
        | postfix "?." NAME "(" [args] ")"        -> safe_call
        | postfix "[" expr "]"                    -> index
        | postfix ".?[" expr "]"                  -> select_all
        | postfix ".^[" expr "]"                  -> select_first
        | postfix ".$[" expr "]"                  -> select_last
        | postfix ".![" expr "]"                  -> project
        | postfix "?.?[" expr "]"                 -> safe_select_all
        | postfix "?.![" expr "]"                 -> safe_project

?primary: literal
        | "(" expr ")"
        | NAME                                    -> name
        | "#" NAME                                -> variable
        | "#" NAME "(" [args] ")"                 -> function
        | "{" "}"                                 -> empty_list
        | "{" ":" "}"                             -> empty_map
        | "{" args "}"                            -> inline_list
        | "{" entry ("," entry)* "}"              -> inline_map
        | _T "(" qualified ")"                    -> type_ref
        | _NEW qualified "(" [args] ")"           -> construct

args: expr ("," expr)* ","?
entry: (NAME | STRING | INT) ":" expr
qualified: NAME ("." NAME)*

?literal: STRING                                  -> string
        | INT                                     -> int
        | FLOAT                                   -> float
        | _TRUE                                   -> true
        | _FALSE                                  -> false
        | _NULL                                   -> null

RELOP.2: "==" | "!=" | "<=" | ">=" | "<" | ">" | /(eq|ne|lt|gt|le|ge)\b/
MULOP.2: "*" | "/" | "%" | /(div|mod)\b/
PLUS: "+"
MINUS: "-"
_OR.2: "||" | /or\b/
_AND.2: "&&" | /and\b/
_NOT.2: "!" | /not\b/
_MATCHES.2: /matches\b/
_TRUE.2: /true\b/
_FALSE.2: /false\b/
_NULL.2: /null\b/
_NEW.2: /new\b/
_T.2: /T(?=\s*\()/

NAME: /[A-Za-z_$][A-Za-z0-9_$]*/
STRING: /'(?:[^']|'')*'/ | /"(?:[^"]|"")*"/
FLOAT: /\d+\.\d+([eE][+-]?\d+)?[dDfF]?/ | /\d+[eE][+-]?\d+[dDfF]?/ | /\d+[dDfF]/
INT: /\d+[lL]?/

%import common.WS
%ignore WS
"""

@cache
def parser() -> Lark:
    """The LALR parser, built on first use: building it takes a fifth of a second that a process which evaluates
    no expression (`gennaker up` until the first execution, most CLI commands) need not pay."""
    return Lark(GRAMMAR, parser="lalr", maybe_placeholders=True)
