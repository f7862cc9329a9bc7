package dev.drift;

/** One search result: the posting's document, its span and its distance (smaller is closer). */
public record Hit(DocumentId documentId, int start, int length, float distance) {}
